"""The shared queue's dispatch: claims and leases (`claims.py`), signals between pods (`signals.py`)."""
