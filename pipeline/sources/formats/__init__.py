"""File and reply formats: one module per format, each turning bytes into contract rows."""
