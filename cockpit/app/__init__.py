"""The Textual shell of the cockpit.

`shell` holds the app itself (layout, navigation, palette, themes, the one worker-error
funnel); each feature has a controller here (gpus, runs, results, triage, paper, commands,
ideas) that is given the store, the bus and its pane, never the App. `demo` wires the
embedded demo's simulated backends in.
"""
