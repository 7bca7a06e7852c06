"""The Congress.gov API v3: a client for a bill's sponsor and cosponsors, and a local stand-in."""
