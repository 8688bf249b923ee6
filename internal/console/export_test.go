package console

// SignedInPatterns lists the patterns of the routes for signed-in browsers,
// for a test to walk every page with a token made for one account.
func SignedInPatterns(c *Console) []string {
	var out []string
	for _, rt := range c.signedIn() {
		out = append(out, rt.pattern)
	}
	return out
}
