"""Scripts, sandboxed runs, outputs and their release (filled in by the jobs issue)."""
