# channel: the exception's type, chosen by a value
# allowed: job-failure
import tre_sdk

df = tre_sdk.load_dataset("admissions")
kinds = [KeyError, ValueError, TypeError, IndexError, OSError, RuntimeError, LookupError, EOFError]
raise kinds[int(df.iloc[0]["age"]) % len(kinds)]("")
