"""Industrial parks' environmental compliance: outlet, tenant-connection and stack monitoring
against QCVN 40 (industrial wastewater) and QCVN 19/20 (industrial emissions)."""
