"""Helpers shared by the bench scripts (a package, so `./dev bench` does not run it as a script)."""
