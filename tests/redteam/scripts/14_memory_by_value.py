# channel: peak memory, by allocating a value's worth of megabytes
# allowed: job-figures
import tre_sdk

df = tre_sdk.load_dataset("admissions")
block = bytearray(int(df.iloc[0]["age"]) * 10 * 1024**2)
for at in range(0, len(block), 4096):
    block[at] = 1
