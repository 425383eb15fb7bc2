# channel: the line an exception is raised at, chosen by a value
# allowed: job-failure
import tre_sdk

df = tre_sdk.load_dataset("admissions")
if int(df.iloc[0]["age"]) > 50:
    raise ValueError("")
raise ValueError("")
