# channel: the log, base64-encoded
# allowed:
import base64

import tre_sdk

df = tre_sdk.load_dataset("admissions")
print(base64.b64encode(df.head(5).to_csv().encode()).decode())
