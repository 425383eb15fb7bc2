# channel: the signal the script dies of
# allowed:
import os

import tre_sdk

df = tre_sdk.load_dataset("admissions")
os.kill(os.getpid(), [15, 10, 12, 6][int(df.iloc[0]["age"]) % 4])
