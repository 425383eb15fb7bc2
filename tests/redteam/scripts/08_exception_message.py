# channel: an exception's message
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
raise ValueError(df.head(3).to_string())
