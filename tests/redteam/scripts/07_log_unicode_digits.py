# channel: the log, in fullwidth and Arabic-Indic digits
# allowed:
import tre_sdk

df = tre_sdk.load_dataset("admissions")
age = str(int(df.iloc[0]["age"]))
print(age.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
print(age.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))
