"""Calls tongdai places on an officer's request: "call back now" (see decision 0066)."""
