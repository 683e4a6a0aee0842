"""The payment callback gateway: signed provider callbacks applied to orders exactly once."""
