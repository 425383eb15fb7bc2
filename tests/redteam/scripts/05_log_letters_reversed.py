# channel: the log, with digits swapped for letters and the text reversed
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
row = df.iloc[0]
for value in (row["age"], row["ward"], row["length_of_stay"]):
    print(str(value).translate(str.maketrans("0123456789", "abcdefghij"))[::-1])
