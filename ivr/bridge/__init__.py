"""Bridged transfer: tongdai rings an officer's phones and joins them to the waiting caller."""
