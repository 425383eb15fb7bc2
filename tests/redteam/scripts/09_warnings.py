# channel: warnings.warn
# allowed:
import warnings

import tre_sdk

df = tre_sdk.load_dataset("admissions")
warnings.warn(f"age {df.iloc[0]['age']} ward {df.iloc[0]['ward']}", stacklevel=1)
