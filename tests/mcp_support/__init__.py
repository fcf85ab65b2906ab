"""MCP servers for the tests: the in-repo fault server and the npm servers' paths."""
