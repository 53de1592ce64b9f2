"""`provision onboard`: a new GPU server from "it answers SSH" to "in the inventory and verified".

steps.py holds the small steps (key, sudo, preflight, what the run did); inventory.py the edit of
the user's inventory file. The command handler that orders them is provision/commands/onboard.py.
"""
