"""Common building blocks of the suite's services: settings, logging, errors, HTTP, tokens."""
