"""Rich renderers shared by the CLI and the app: tables, verdict styles, p-values, durations."""
