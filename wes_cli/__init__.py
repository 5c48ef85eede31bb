"""`wes`: the WES Portal's command-line client, on top of the portal's API (/api/v1/).

Stands alone: it imports neither Django nor the portal's packages (a test holds it to that), so a
lab can install it on the machine next to the sequencer.
"""
