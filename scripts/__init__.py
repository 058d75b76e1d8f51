"""Development scripts; a package so `python -m scripts.dev_cluster` and the tests can import `scripts.local_servers`."""
