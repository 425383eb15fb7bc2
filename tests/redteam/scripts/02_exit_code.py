# channel: the exit code
# allowed:
import sys

import tre_sdk

df = tre_sdk.load_dataset("admissions")
sys.exit(int(df.iloc[0]["age"]))
