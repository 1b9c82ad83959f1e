"""The offline rehearsal of the `full` profile: a stand-in hub at the real shapes, served on loopback (see README.md)."""
