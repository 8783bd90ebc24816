package provider

// ChainNews returns how many changes and catch-ups the event feed has
// brought p.
func ChainNews(p *Provider) uint64 { return p.lookups.news.Load() }
