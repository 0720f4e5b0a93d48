"""Strategy simulations: backtests of the live strategy code on stored history, with metrics and charts."""
