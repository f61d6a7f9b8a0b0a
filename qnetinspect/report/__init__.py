"""Output formats: text, JSON, Prometheus, Nagios, seed-style diagrams, DOT/Mermaid."""
