"""Signing up on the campaign's own forms, with double opt-in.

form.py reads and checks what a visitor typed; start.py starts a signup (rate
limits, the pending row, the queued confirmation message); tokens.py signs the
form token and the confirmation link; confirm.py makes a confirmed signup a
subscriber; mail.py renders and sends the queued confirmation messages;
listing.py lists pending signups and counts them for the stats.
"""
