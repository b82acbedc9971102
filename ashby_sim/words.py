"""Word lists the generators draw names, titles and places from (invented; no real people)."""

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Anil", "Aroha", "Astrid", "Bea", "Bruno", "Chen", "Chidi", "Dara", "Dmitri",
    "Elif", "Emeka", "Esme", "Farah", "Felix", "Goran", "Hana", "Hugo", "Ines", "Ivan", "Jia", "Jonas", "Kai",
    "Kemal", "Lena", "Leon", "Lucia", "Mai", "Marek", "Maya", "Nadia", "Nia", "Noor", "Omar", "Otto", "Priya",
    "Quinn", "Rafael", "Rina", "Sade", "Sami", "Sofia", "Tariq", "Teo", "Uma", "Vera", "Wen", "Yara", "Zane",
)  # fmt: skip
LAST_NAMES = (
    "Abara", "Baptiste", "Castell", "Dlamini", "Eriksen", "Fontaine", "Garcia", "Haddad", "Ibarra", "Jensen",
    "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi", "Sato", "Tanaka",
    "Uribe", "Varga", "Walsh", "Xu", "Yilmaz", "Zielinski", "Achebe", "Bergstrom", "Costa", "Duarte", "Novak",
)  # fmt: skip
COMPANIES = (
    "Acme Robotics", "Blue Fjord", "Cobalt Labs", "Driftwood Systems", "Ember Health", "Foxglove Foods",
    "Granite Analytics", "Harbor Freight Tech", "Ionic Studio", "Juniper Mobility", "Kestrel Bank", "Lumen Works",
)  # fmt: skip
SCHOOLS = (
    "Northfield University", "Lakeside Institute of Technology", "Westbrook College", "Southgate Polytechnic",
    "Eastmere University", "Hillcrest Academy",
)  # fmt: skip
JOB_TITLES = (
    "Backend Engineer", "Frontend Engineer", "Data Scientist", "Product Manager", "Product Designer",
    "Site Reliability Engineer", "Account Executive", "Recruiter", "Finance Analyst", "Support Specialist",
    "Security Engineer", "Marketing Manager", "Engineering Manager", "Data Engineer", "Sales Engineer",
)  # fmt: skip
SENIORITY = ("", "Senior ", "Staff ", "Principal ", "Junior ", "Lead ")
DEPARTMENTS = ("Engineering", "Product", "Design", "Sales", "Marketing", "Finance", "People", "Support", "Legal")
CITIES = (
    ("Berlin", "Berlin", "DE"), ("London", "England", "GB"), ("New York", "NY", "US"), ("Toronto", "ON", "CA"),
    ("Lisbon", "Lisboa", "PT"), ("Singapore", "Singapore", "SG"), ("Austin", "TX", "US"), ("Nairobi", "Nairobi", "KE"),
    ("Sydney", "NSW", "AU"), ("Sao Paulo", "SP", "BR"),
)  # fmt: skip
TAGS = (
    "Referral", "Boomerang", "Silver medalist", "Relocation", "Visa needed", "Top school", "Open source",
    "Diversity sourcing", "Event lead", "Do not contact",
)  # fmt: skip
SOURCES = (
    ("LinkedIn", "Sourced"), ("Referral", "Referral"), ("Company website", "Inbound"), ("Indeed", "Job Board"),
    ("Agency", "Agency"), ("Conference", "Event"), ("GitHub", "Sourced"), ("Other", "Other"),
)  # fmt: skip
ARCHIVE_REASONS = (
    ("Withdrew", "RejectedByCandidate"), ("Accepted another offer", "RejectedByCandidate"),
    ("Not a fit", "RejectedByOrg"), ("Position filled", "RejectedByOrg"), ("Skills mismatch", "RejectedByOrg"),
    ("Duplicate", "Other"),
)  # fmt: skip
CUSTOM_FIELDS = (
    ("Desired salary", "Candidate", "Number"), ("Notice period", "Candidate", "ValueSelect"),
    ("Remote preference", "Candidate", "Boolean"), ("Cost center", "Job", "String"),
    ("Referral bonus eligible", "Application", "Boolean"), ("Signing bonus", "Offer", "Number"),
)  # fmt: skip
NOTICE_PERIODS = ("Immediate", "2 weeks", "1 month", "3 months")
INTERVIEWS = ("Phone screen", "Technical interview", "Debrief")
PROJECTS = ("Q3 outbound", "Engineering pipeline", "Alumni", "Conference leads", "Executive search")
