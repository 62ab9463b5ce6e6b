"""Channel adapters: the only modules that know a platform's types."""
