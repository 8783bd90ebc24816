// Command micropay is the micropay command line: a local devnet, keys and
// warrants for consumers, a paying HTTP client, the provider daemon and its
// operator commands, the simulator and the demo.
//
// Every flag can also come from the environment (MICROPAY_ and the flag
// name in upper case, dashes as underscores: MICROPAY_NODE) or from a YAML
// config file (--config, default ~/.micropay/config.yaml) holding the same
// names as keys. Flags win over the environment, which wins over the file.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/micropay/micropay/client/chain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string) int {
	app := newApp()
	root := app.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, msg := classify(err)
	if app.json {
		app.printJSON(os.Stderr, map[string]any{"error": msg, "exitCode": code})
	} else {
		fmt.Fprintln(os.Stderr, "micropay: "+msg)
	}
	return code
}

// app holds what the subcommands share: configuration and output mode.
type app struct {
	v    *viper.Viper
	json bool

	chain    chain.Chain // set by connect
	chainErr error
}

func newApp() *app { return &app{v: viper.New()} }

func defaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".micropay")
	}
	return ".micropay"
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "micropay",
		Short:         "Warrant-backed micropayments on an IOTA Wasp (ISC) chain",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.loadConfig(cmd); err != nil {
				return err
			}
			if cmd.Annotations[annotationEmbedded] == "" {
				return a.initL1(cmd)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	pf := root.PersistentFlags()
	pf.String("config", "", "YAML config file (default ~/.micropay/config.yaml if it exists)")
	pf.String("home", defaultHome(), "directory for the key file and local state")
	pf.String("node", "http://127.0.0.1:9090", "web API of the Wasp node or devnet holding the micropay contract; several nodes of the chain separated by commas")
	pf.String("chain-id", "", "chain ID (bech32); default: the node's only chain")
	networkFlags(pf)
	pf.String("key", "", "key file (default HOME/key)")
	pf.Bool("json", false, "print results as JSON for scripts")
	pf.Duration("timeout", 0, "give up after this long (0: no limit)")

	root.AddGroup(&cobra.Group{ID: "consumer", Title: "Consumer:"}, &cobra.Group{ID: "provider", Title: "Provider:"},
		&cobra.Group{ID: "local", Title: "Local chain, simulation and demo:"})
	root.AddCommand(
		a.keyCommand(), a.warrantCommand(), a.getCommand(), a.fundsCommand(),
		a.providerCommand(), a.facilitatorCommand(),
		a.devnetCommand(), a.faucetCommand(), a.simCommand(), a.demoCommand(), newLifecycleCmd(),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command with subcommands refuse an
// argument that names no subcommand with a usage error, exit code 2,
// instead of printing its help and succeeding (a group) or complaining of
// the argument count (devnet). Called with no argument, a group prints its
// help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || !cmd.HasParent() {
		return
	}
	own := cmd.Args
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("unknown command %q for %q; its commands: %s", args[0], c.CommandPath(), strings.Join(subcommandNames(c), ", "))
		}
		if own != nil {
			return own(c, args)
		}
		return nil
	}
	if cmd.Runnable() {
		return
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotationEmbedded] = "yes" // its help needs no node
}

// subcommandNames lists cmd's visible subcommands.
func subcommandNames(cmd *cobra.Command) []string {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// loadConfig binds flags, MICROPAY_* variables and the config file.
func (a *app) loadConfig(cmd *cobra.Command) error {
	a.v.SetEnvPrefix("MICROPAY")
	a.v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	a.v.AutomaticEnv()
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err := a.v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	})
	if bindErr != nil {
		return bindErr
	}
	file := a.v.GetString("config")
	if file == "" {
		file = filepath.Join(a.v.GetString("home"), "config.yaml")
		if _, err := os.Stat(file); err != nil {
			file = ""
		}
	}
	if file != "" {
		a.v.SetConfigFile(file)
		if err := a.v.ReadInConfig(); err != nil {
			return usageErrorf("config file %s: %v", file, err)
		}
	}
	a.json = a.v.GetBool("json")
	if d := a.v.GetDuration("timeout"); d > 0 {
		ctx, cancel := context.WithTimeout(cmd.Context(), d)
		cobra.OnFinalize(cancel)
		cmd.SetContext(ctx)
	}
	return nil
}

// annotationEmbedded marks commands that run their own embedded chain and
// talk to no node.
const annotationEmbedded = "embedded"

var embedded = map[string]string{annotationEmbedded: "yes"}

func (a *app) keyPath() string {
	if p := a.v.GetString("key"); p != "" {
		return p
	}
	return filepath.Join(a.v.GetString("home"), "key")
}
