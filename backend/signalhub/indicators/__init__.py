"""Technical indicators: computation (pandas-ta and a vectorised batch path), storage and refresh."""
