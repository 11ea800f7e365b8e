"""Standalone scripts kept in the repository. Each runs on its own (python tools/<name>.py); the
package lets the management commands reuse them instead of keeping a second copy."""
