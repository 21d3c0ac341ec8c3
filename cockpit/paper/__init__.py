"""Paper drafts: one module per concern.

drafts  the draft on disk: includes followed, versions from snapshots and git, atomic edits
latex   sections, paragraphs and word tokens as LaTeX reads them
diff    the LaTeX-aware diff of two versions
claims  every number and claim of a draft matched to the recorded results
macros  results as LaTeX macros the claim check accepts
review  LLM edits as hunks, and the LLM review on the NeurIPS form
"""
