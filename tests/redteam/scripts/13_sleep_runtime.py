# channel: runtime, by sleeping for a value
# allowed:
import time

import tre_sdk

df = tre_sdk.load_dataset("admissions")
time.sleep(int(df.iloc[0]["age"]) / 20)
