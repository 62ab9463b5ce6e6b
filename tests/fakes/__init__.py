"""Fakes of the servers we cannot reach in tests, speaking their documented HTTP protocols."""
