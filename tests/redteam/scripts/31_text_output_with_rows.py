# channel: a text output holding rows (its verdict must say so, for the checkers)
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
tre_sdk.save_text("notes", df.head(5).to_string())
