"""The vocabulary every layer shares: errors, atomic files, paths, the target table and its
option domains, the configurations executorch documents as unsupported, the release table.
Imports nothing of armfuzz above it."""
