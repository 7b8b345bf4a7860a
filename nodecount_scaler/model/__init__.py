"""Pure decision logic: views of cluster objects and the rules over them. No I/O here."""
