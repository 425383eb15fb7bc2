# channel: a traceback the script prints itself, with a line number and type of its making
# allowed:
import sys

import tre_sdk

df = tre_sdk.load_dataset("admissions")
age = int(df.iloc[0]["age"])
sys.stderr.write(
    "Traceback (most recent call last):\n"
    f'  File "/job/script.py", line {age * 1000}, in <module>\n'
    f"Age{age}Error: {age}\n"
)
sys.exit(1)
