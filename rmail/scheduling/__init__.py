"""Calendar scheduling services between the stores and the mail pipeline: importing iTIP from
delivered mail (`imip.import_itip`), sending iMIP for CalDAV changes (`send.send_all`) and the
VALARM reminder task (`reminders`). Front ends call these; they never call front ends."""
