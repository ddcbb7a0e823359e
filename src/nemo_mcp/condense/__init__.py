"""Free text routed to an operation (the command line's ``ask``)."""
