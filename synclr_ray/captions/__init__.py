"""Stage 1: concepts -> in-context prompts -> LLM -> post-processed, deduplicated captions."""
