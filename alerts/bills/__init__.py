"""The bill an action campaign names: its sponsor and cosponsors, and each member's stance.

`congress_gov/` is the seam to the outside service (the Congress.gov API and its local
stand-in), `updates.py` fetches a bill and records what changed since the last fetch,
`overrides.py` loads the stances no API knows from a CSV, and `stance.py` says where
each member stands.
"""
