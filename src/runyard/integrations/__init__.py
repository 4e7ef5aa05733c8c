"""Bridges to the tools ML code already uses; each imports its tool only when imported itself."""
