"""Shared utilities without a role of their own: errors, compatibility patches, resources, records, fingerprints,
run locks, the command-line convention, the statuses of a trials CSV.
"""
