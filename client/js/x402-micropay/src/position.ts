// The payer's durable position per warrant: it is saved (fsync) before a
// signature leaves the process, so a crash never signs two totals under
// one ordinal.

import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";

/** A payer's position under one warrant. */
export interface Position {
  epoch: number;
  ordinal: bigint; // newest ordinal signed (or adopted) in the epoch
  total: bigint; // total of that payment
  signed: bigint; // highest total ever signed in the epoch: the most the provider can settle
}

/** Where positions are kept. save must be durable when it returns. */
export interface PositionStore {
  load(warrant: string): Position | undefined;
  save(warrant: string, p: Position): void;
}

/** The lock file of a position directory, naming the process that holds it. */
const lockName = "LOCK";

/**
 * Keeps each warrant's position in a file of dir, written atomically and synced.
 *
 * One process holds dir at a time: two payers on one position would sign
 * two totals under one ordinal. The constructor takes dir's LOCK file (it
 * names the holder's pid) and throws if a live process holds it; a lock
 * whose process is gone (a crash, `kill -9`) is taken over. close()
 * releases it, as does the process's exit.
 */
export class FilePositionStore implements PositionStore {
  private readonly lockPath: string;
  private locked = false;
  private readonly releaseAtExit = () => this.close();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.lockPath = join(dir, lockName);
    this.lock();
    process.once("exit", this.releaseAtExit);
  }

  /** Releases the directory for another store. The store is not used after it. */
  close(): void {
    process.removeListener("exit", this.releaseAtExit);
    if (!this.locked) return;
    this.locked = false;
    try {
      if (readHolder(this.lockPath) === process.pid) unlinkSync(this.lockPath);
    } catch {
      // already gone
    }
  }

  private lock(): void {
    // The pid is written to a file of our own and linked into place, so a
    // lock file never exists without its holder's pid in it.
    const mine = `${this.lockPath}.${process.pid}.new`;
    const fd = openSync(mine, "w", 0o600);
    try {
      writeSync(fd, String(process.pid));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      this.lockWith(mine);
    } finally {
      unlinkSync(mine);
    }
  }

  private lockWith(mine: string): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(mine, this.lockPath);
        this.locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const holder = readHolder(this.lockPath);
      if (holder !== undefined && alive(holder)) {
        throw new Error(`position directory ${this.dir} is in use by process ${holder}: one payer process per directory, or it could sign two totals under one ordinal (if process ${holder} is no payer, its pid was reused: remove ${this.lockPath})`);
      }
      this.takeOver(holder);
    }
    throw new Error(`position directory ${this.dir}: could not take its lock`);
  }

  /** Removes a lock whose holder is gone; another process may race us to it. */
  private takeOver(stale: number | undefined): void {
    const grave = `${this.lockPath}.${process.pid}.stale`;
    try {
      renameSync(this.lockPath, grave);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // taken over by another: try again
      throw e;
    }
    const moved = readHolder(grave);
    if (moved !== stale && moved !== undefined && alive(moved)) {
      // A live process took the lock between our read and our rename: give it back.
      try {
        linkSync(grave, this.lockPath);
      } finally {
        unlinkSync(grave);
      }
      throw new Error(`position directory ${this.dir} is in use by process ${moved}`);
    }
    unlinkSync(grave);
  }

  private path(warrant: string): string {
    return join(this.dir, createHash("sha256").update(warrant).digest("hex").slice(0, 32) + ".json");
  }

  load(warrant: string): Position | undefined {
    let text: string;
    try {
      text = readFileSync(this.path(warrant), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    if (text.length > 4096) throw new Error(`position file of ${text.length} bytes`);
    const j = JSON.parse(text) as Record<string, unknown>;
    if (j.warrant !== warrant || typeof j.epoch !== "number" || typeof j.ordinal !== "string" || typeof j.total !== "string" || typeof j.signed !== "string") {
      throw new Error(`position file ${this.path(warrant)} is not a position of this warrant`);
    }
    const p = { epoch: j.epoch, ordinal: BigInt(j.ordinal), total: BigInt(j.total), signed: BigInt(j.signed) };
    if (p.signed < p.total) throw new Error(`position file ${this.path(warrant)}: highest signed total below the total`);
    return p;
  }

  save(warrant: string, p: Position): void {
    const path = this.path(warrant);
    const tmp = path + ".tmp";
    const body = JSON.stringify({ warrant, epoch: p.epoch, ordinal: p.ordinal.toString(), total: p.total.toString(), signed: p.signed.toString() });
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(this.dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

/** The pid a lock file names; undefined when it is unreadable or garbled. */
function readHolder(path: string): number | undefined {
  // At most 16 bytes: a pid is 10 digits at most, and a file of any other
  // size is garbled, whatever put it there.
  const buf = Buffer.alloc(16);
  let n: number;
  try {
    const fd = openSync(path, "r");
    try {
      n = readSync(fd, buf, 0, buf.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const text = buf.subarray(0, n).toString("latin1");
  if (!/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  return Number(text);
}

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
