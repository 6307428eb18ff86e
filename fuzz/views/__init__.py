"""What a person sees: the command line (cli/), the campaign summary, the dashboard, the
registry's surface against the backend's op list."""
