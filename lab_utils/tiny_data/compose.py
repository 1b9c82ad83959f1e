"""Compose the tiny profile's embedded data: `dialogues.jsonl` and `labelled.jsonl`.

The dialogues and summaries are original text written for this project from hand-made templates;
they are not copied from DialogSum (only its schema and its "#Person1#:" turn style are imitated).
`dialogues.jsonl` stands in for DialogSum (id, dialogue, summary, topic; 20% rude dialogues) and
`labelled.jsonl` trains the tiny hate-speech classifier on summary-shaped texts (text, label, split).

Regenerate (byte-identical on every run, Python 3 stdlib only):

    python3 lab_utils/tiny_data/compose.py
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent
DIALOGUES_FILE = HERE / "dialogues.jsonl"
LABELLED_FILE = HERE / "labelled.jsonl"
SEED = 1234

N_DIALOGUES = 480
N_RUDE = 96  # 20% of the dialogues
N_RUDE_INSULT_SUMMARY = 67  # rude rows whose reference summary repeats the insult (~70%)
TEST_ROWS = 96  # the lab takes the last 20% as its held-out split, without shuffling
TEST_RUDE_RANGE = (18, 22)  # rude rows allowed in that held-out tail

N_LABELLED_PER_LABEL = 320
TEST_SHARE = 0.2
# Rows per (label, kind); each kind is split 80/20 on its own so both splits hold every kind.
LABELLED_PLAN: dict[tuple[str, str], int] = {
    ("hate", "summary"): 205,
    ("hate", "short"): 80,
    ("hate", "garbled"): 35,
    ("nothate", "summary"): 215,
    ("nothate", "short"): 40,
    ("nothate", "garbled"): 65,
}

INSULT_ADJECTIVES = ("dumb", "incompetent", "lazy", "pathetic", "ridiculous", "stupid", "useless", "worthless")
INSULT_NOUNS = ("clown", "fool", "idiot", "loser", "moron")
INSULT_WORDS = frozenset(INSULT_ADJECTIVES + INSULT_NOUNS)
INSULT_RE = re.compile(r"\b(" + "|".join(sorted(INSULT_WORDS)) + r")\b", re.IGNORECASE)
WORD_RE = re.compile(r"[a-z0-9']+")
TURN_RE = re.compile(r"^#Person([12])#: \S")

# Slot pools. Slots that draw from the same pool within one template get distinct values.
POOLS: dict[str, tuple[str, ...]] = {
    "acct": ("current", "savings", "student"),
    "activity": ("cycling", "fishing", "hiking", "swimming"),
    "age": ("eight", "five", "ten", "two"),
    "appliance": ("air conditioning", "fridge", "kettle", "shower", "television"),
    "bags": ("three", "two"),
    "big": ("one thousand", "three thousand", "two thousand"),
    "boxes": ("fifteen", "ten", "twenty"),
    "bus": ("eleven", "forty", "thirty", "twelve"),
    "cards": ("five", "seven", "three"),
    "city": ("Berlin", "Dublin", "Lisbon", "London", "Madrid", "Paris", "Rome", "Vienna"),
    "cls": ("boxing", "cycling", "dance", "yoga"),
    "clock": ("eight o'clock", "nine o'clock", "seven o'clock", "six o'clock"),
    "cm": ("five", "four", "three", "two"),
    "colour": ("black", "blue", "brown", "green", "grey", "red", "white"),
    "cupsize": ("large", "medium", "small"),
    "day": ("Friday", "Monday", "Saturday", "Sunday", "Thursday", "Tuesday", "Wednesday"),
    "daytime": ("eleven", "four", "ten", "three", "two"),
    "deposit": ("fifty", "ten", "twenty"),
    "dest": ("Grand Hotel", "airport", "central station", "city hospital"),
    "dir": ("left", "right"),
    "drink": ("black coffee", "cappuccino", "hot chocolate", "latte", "tea"),
    "early": ("seven", "six"),
    "evening": ("eight", "nine", "seven", "six"),
    "fee": ("forty", "thirty", "twenty"),
    "fine": ("five", "four", "three", "two"),
    "fixture": ("bathroom tap", "kitchen sink", "shower", "washing machine"),
    "flat": ("four", "nine", "six", "twelve"),
    "flavour": ("carrot", "chocolate", "lemon", "strawberry", "vanilla"),
    "floor": ("fifth", "fourth", "second", "third"),
    "food": ("bread", "butter", "coffee", "eggs", "pasta", "rice"),
    "fruit": ("apples", "bananas", "grapes", "oranges"),
    "furniture": ("bed", "chair", "cushion", "sofa", "table"),
    "genre": ("folk", "jazz", "pop", "rock"),
    "gift": ("a board game", "a book", "a plant", "a scarf", "a watch"),
    "guests": ("fifteen", "ten", "twelve", "twenty"),
    "housenum": ("five", "forty", "twelve", "twenty"),
    "indoor": ("bowling alley", "cinema", "museum", "shopping centre"),
    "item": ("coat", "dress", "jacket", "shirt", "skirt", "sweater"),
    "job": ("cashier", "cook", "driver", "nurse", "teacher", "waiter"),
    "landmark": ("bakery", "bank", "church", "cinema", "traffic lights"),
    "late": ("five", "six", "ten", "three"),
    "late_hour": ("eight", "nine"),
    "liquid": ("juice", "milk", "olive oil"),
    "milk": ("almond", "oat", "soy"),
    "mins": ("fifteen", "five", "ten", "twenty"),
    "month": ("August", "July", "June", "May", "September"),
    "morning": ("eight", "seven", "six"),
    "name": ("Anna", "Ben", "Jack", "Lucy", "Sara", "Tom"),
    "nbooks": ("five", "four", "three", "two"),
    "nights": ("five", "four", "three", "two"),
    "pastry": ("bagel", "cookie", "croissant", "muffin"),
    "pay": ("by card", "in cash"),
    "people": ("five", "four", "six", "three", "two"),
    "pet": ("cat", "dog", "parrot", "rabbit"),
    "picnic": ("cheese", "cookies", "fruit", "salad", "sandwiches"),
    "pipe_price": ("eighty", "ninety", "seventy", "sixty"),
    "place": ("city library", "market", "museum", "post office", "town hall", "train station"),
    "plat": ("five", "four", "three", "two"),
    "pm": ("five", "six"),
    "am": ("eight", "nine"),
    "points": ("five", "ten", "twenty"),
    "price": ("eighty", "fifty", "forty", "seventy", "sixty"),
    "price_car": ("one hundred", "three hundred", "two hundred"),
    "price_cup": ("five", "four", "seven", "six"),
    "price_gift": ("fifteen", "thirty", "twenty", "twenty five"),
    "price_shop": ("eighteen", "thirty two", "twelve", "twenty five"),
    "price_ticket": ("fifty", "forty", "thirty"),
    "q": ("five", "nine", "seven", "three"),
    "rel": ("brother", "father", "mother", "sister"),
    "rent": ("eight hundred", "nine hundred", "seven hundred"),
    "room": ("bedroom", "garden", "kitchen", "living room"),
    "roomnum": ("fourteen", "thirty", "twelve", "twenty"),
    "roomtype": ("double", "family", "single"),
    "rooms": ("three", "two"),
    "shop": ("bakery", "cinema", "petrol station", "pharmacy", "supermarket"),
    "size": ("eight", "nine", "seven", "six", "ten"),
    "small": ("four", "three", "two"),
    "spot": ("the beach", "the lake", "the park", "the river"),
    "street": ("Church", "Hill", "King", "Mill", "Park", "Station"),
    "stylist": ("Anna", "Lucy", "Maria", "Sara"),
    "subj": ("English", "geography", "history", "maths", "science"),
    "subject": ("birds", "cooking", "gardening", "history", "music", "space"),
    "surname": ("Brown", "Clark", "Davis", "Miller", "Taylor", "Wilson"),
    "symptom": ("a bad cough", "a fever", "a headache", "a sore throat", "a stomach ache", "back pain"),
    "thing": ("lamp", "mirror", "mug", "teapot", "vase"),
    "vehicle": ("bus", "train", "tram"),
    "weather": ("rainy", "stormy", "very cold", "windy"),
    "weekday": ("Friday", "Monday", "Thursday", "Tuesday", "Wednesday"),
    "weeks": ("four", "three", "two"),
    "when": ("last night", "this morning", "yesterday"),
}


@dataclass(frozen=True)
class Template:
    """One dialogue pattern: turns and summary halves with {slot} holes, plus an optional rude turn."""

    key: str
    topic: str
    slots: tuple[tuple[str, str], ...]  # (slot name, pool name)
    turns: tuple[str, ...]  # speakers alternate, starting with #Person1#
    s1: str  # what #Person1# does (a verb phrase)
    s2: str = ""  # what #Person2# does (a verb phrase), optional
    rude: tuple[int, str] | None = None  # (turn index, replacement turn with {insult} or {a_insult})


def tpl(
    key: str,
    topic: str,
    slots: str,
    turns: Sequence[str],
    s1: str,
    s2: str = "",
    rude: tuple[int, str] | None = None,
) -> Template:
    """Build a Template; `slots` is 'name=pool name=pool ...' (a bare name uses the pool of that name)."""
    pairs = tuple((part.split("=")[0], part.split("=")[-1]) for part in slots.split())
    return Template(key, topic, pairs, tuple(turns), s1, s2, rude)


TEMPLATES: tuple[Template, ...] = (
    tpl("restaurant_a", "restaurant booking", "n=people time=evening day", [
        "Hello, I would like to book a table on {day} evening, please.",
        "Of course. For how many people?",
        "For {n}, at {time} if possible.",
        "Sorry, the line is bad. Did you say a table for {n} at {time}?",
        "Yes, that is right. A table for {n}.",
        "Thank you. Your table is booked. Would you like a window seat?",
        "Yes, please. That would be lovely.",
    ], "wants to book a table for {n} at {time} on {day}", "offers a window seat",
        rude=(4, "Are you deaf, you {insult}? I said a table for {n}.")),
    tpl("restaurant_b", "restaurant booking", "n=people early late=late_hour surname", [
        "Hi, I booked a table for {n} at {early} tonight, but we are going to be late.",
        "No problem. What time do you think you will arrive?",
        "Around {late}. Is that still okay?",
        "Yes, I can move your booking to {late}. May I have your name, please?",
        "It is {surname}. Thank you so much.",
        "You are welcome. See you tonight.",
    ], "wants to move a booking for {n} from {early} to {late}", "agrees to the new time"),
    tpl("job_a", "job interview", "job years=people day", [
        "Good morning. Please have a seat. Why do you want to work here as a {job}?",
        "I have worked as a {job} for {years} years, and I really enjoy the work.",
        "I see. What is your biggest strength?",
        "I am organised, and I work well in a team.",
        "Good. If we offer you the job, can you start on {day}?",
        "Yes, I can start on {day}.",
    ], "interviews #Person2# for a job as a {job}", "can start on {day}",
        rude=(2, "Is that all? You sound like {a_insult} to me. What is your biggest strength?")),
    tpl("job_b", "job interview", "am pm day=weekday", [
        "Thank you for coming in today. Do you have any questions for us?",
        "Yes. What are the working hours?",
        "The job is from {am} in the morning to {pm} in the evening, five days a week.",
        "That sounds good. When will I hear from you?",
        "We will call you by {day} at the latest.",
        "Great. Thank you for your time.",
    ], "says the job is from {am} to {pm}", "will hear back by {day}"),
    tpl("luggage_a", "lost luggage", "city colour colour2=colour n=small", [
        "Excuse me, my suitcase did not come out on the belt. I was on the flight from {city}.",
        "I am sorry to hear that. Can you describe the suitcase, please?",
        "It is a large {colour} suitcase with a {colour2} ribbon on the handle.",
        "Thank you. Please fill in this form, and we will send it to your hotel when it arrives.",
        "How long will that take?",
        "Usually about {n} days.",
    ], "reports a missing {colour} suitcase from the {city} flight", "says it will take about {n} days",
        rude=(4, "How long will that take, you {insult}? I need my clothes tonight.")),
    tpl("luggage_b", "lost luggage", "surname city time=evening", [
        "Hello, I am calling about my bag. The airline said it would arrive today.",
        "Can I have your name, please?",
        "Yes, it is {surname}. I flew in from {city} yesterday.",
        "Thank you. Your bag is at the airport now. We will bring it to your hotel by {time} tonight.",
        "Great. I will be at the hotel all evening.",
    ], "calls about a delayed bag from {city}", "says it will arrive by {time} tonight"),
    tpl("doctor_a", "doctor appointment", "surname symptom n=small day=weekday time=daytime", [
        "Good morning. I would like to see Doctor {surname}. I have had {symptom} for {n} days.",
        "I am sorry to hear that. The doctor is free on {day} at {time}.",
        "Is there anything earlier?",
        "Not this week, I am afraid.",
        "All right, {day} at {time} is fine.",
        "Good. Please come ten minutes early.",
    ], "has had {symptom} for {n} days", "books an appointment on {day} at {time}",
        rude=(4, "This place is a joke. Fine, {day} at {time}, you {insult}.")),
    tpl("doctor_b", "doctor appointment", "day=weekday day2=weekday surname time=daytime", [
        "Hello, I need to cancel my appointment on {day}. Something came up at work.",
        "No problem. Can I have your name, please?",
        "My name is {surname}. Could I come in next week instead?",
        "Yes, there is a free slot next {day2} at {time}.",
        "Perfect, I will take it. Thank you.",
        "You are welcome. See you then.",
    ], "cancels an appointment on {day}", "offers a new slot next {day2} at {time}"),
    tpl("shoes_a", "buying shoes", "size colour colour2=colour price", [
        "Excuse me, do you have these shoes in size {size}?",
        "Let me look. Yes, we have them in {colour} and {colour2}.",
        "I would like the {colour} ones, please. How much are they?",
        "They are {price} dollars. Would you like to try them on?",
        "Yes, please. They fit well. I will take them.",
        "Great. You can pay at the front desk.",
    ], "buys {colour} shoes in size {size} for {price} dollars",
        rude=(2, "The {colour} ones, you {insult}. Just tell me the price.")),
    tpl("shoes_b", "buying shoes", "size colour price", [
        "Hi, I am looking for a pair of winter boots in size {size}.",
        "These {colour} boots are on sale today. They are {price} dollars.",
        "They look warm. Can I try them on?",
        "Of course. Here you are.",
        "They are a little tight. Do you have a bigger size?",
        "I am sorry, we only have size {size} in {colour}.",
    ], "tries on {colour} winter boots in size {size}, but they are too tight"),
    tpl("directions_a", "asking directions", "place dir landmark mins", [
        "Excuse me, I am new in town. How do I get to the {place}?",
        "Go straight down this street and turn {dir} at the {landmark}.",
        "Is it far from here?",
        "No, it is about {mins} minutes on foot.",
        "Thank you very much.",
        "You are welcome. Have a nice day.",
    ], "asks the way to the {place}", "tells #Person1# to turn {dir} at the {landmark}",
        rude=(1, "Are you blind, you {insult}? There is a sign. Go straight and turn {dir} at the {landmark}.")),
    tpl("directions_b", "asking directions", "place bus mins landmark", [
        "Hi, sorry to bother you. Which bus goes to the {place}?",
        "Take bus number {bus}. The stop is just across the road.",
        "How often does it come?",
        "Every {mins} minutes or so.",
        "And where should I get off?",
        "Get off at the {landmark}. The {place} is right next to it.",
        "Great, thanks for your help.",
    ], "asks which bus goes to the {place}", "says to take bus number {bus}"),
    tpl("flat_a", "renting a flat", "street rooms rent day time=daytime", [
        "Hello, I am calling about the flat on {street} Street. Is it still free?",
        "Yes, it is. It has {rooms} bedrooms and a small garden.",
        "How much is the rent?",
        "It is {rent} dollars a month, plus bills.",
        "That is fine. Can I come and see it on {day}?",
        "Sure, {day} at {time} works for me.",
    ], "asks about a {rooms} bedroom flat on {street} Street", "says the rent is {rent} dollars",
        rude=(4, "That is a lot. Can I see it on {day}, or is that too hard for {a_insult} like you?")),
    tpl("flat_b", "renting a flat", "flat day time=daytime", [
        "Hi, this is your tenant from flat {flat}. The heating is not working.",
        "Oh no, I am sorry. Since when?",
        "Since {day} morning. It is very cold in here at night.",
        "I will send someone to fix it tomorrow at {time}.",
        "Thank you. I will make sure to be at home.",
        "Good. Call me if anything else breaks.",
    ], "tells #Person2# the heating in flat {flat} is not working", "will send someone tomorrow at {time}"),
    tpl("parcel_a", "returning a parcel", "item day price", [
        "Hi, I would like to return this parcel. The {item} inside is the wrong size.",
        "I see. Do you have the receipt?",
        "Yes, here it is. I bought it online on {day}.",
        "Thank you. Would you like a refund or a different size?",
        "A refund, please.",
        "Fine. The {price} dollars will be back on your card in a few days.",
    ], "returns a {item} that is the wrong size", "gives a refund of {price} dollars",
        rude=(2, "Here is the receipt, you {insult}. I bought it online on {day}.")),
    tpl("parcel_b", "returning a parcel", "colour thing day", [
        "Hello, my parcel arrived today, but the box was broken.",
        "I am sorry about that. What was inside?",
        "A {colour} {thing}. It is cracked on one side.",
        "Please send it back to us, and we will send you a new one by {day}.",
        "Do I have to pay for the postage?",
        "No, the return is free. We will email you a label.",
    ], "received a cracked {colour} {thing}", "will send a new one by {day}"),
    tpl("gym_a", "gym membership", "fee cls", [
        "Hi, I am interested in joining the gym. How much is a membership?",
        "It is {fee} dollars a month, or a bit less if you pay for a full year.",
        "Does that include the {cls} classes?",
        "Yes, the {cls} classes and the swimming pool are included.",
        "Great. I will take the monthly plan, please.",
        "Perfect. Let me get the form for you.",
    ], "joins the gym for {fee} dollars a month", "says the {cls} classes are included",
        rude=(2, "Does that include the {cls} classes, or do I pay extra for that too, you {insult}?")),
    tpl("gym_b", "gym membership", "city month", [
        "Hello, I would like to cancel my gym membership, please.",
        "I am sorry to hear that. May I ask why?",
        "I am moving to {city} next month for work.",
        "I understand. Your membership will end on the last day of {month}.",
        "Do I need to return my card?",
        "Yes, please leave it at the front desk. Good luck with the move.",
    ], "cancels a gym membership because of a move to {city}", "says the membership ends in {month}"),
    tpl("train_a", "train tickets", "city day time=morning price", [
        "Good morning. I need a return ticket to {city} for {day}, please.",
        "Would you like to travel in the morning or in the afternoon?",
        "In the morning, please.",
        "There is a fast train at {time} in the morning. It costs {price} dollars.",
        "That is fine. Can I pay by card?",
        "Yes, of course. Here is your ticket.",
    ], "buys a return ticket to {city} for {day}", "says the train leaves at {time}"),
    tpl("train_b", "train tickets", "time=clock city mins plat", [
        "Excuse me, is the {time} train to {city} on time?",
        "I am afraid it is delayed by {mins} minutes.",
        "Oh no, I have a meeting there. Is there another train?",
        "There is a faster train from platform {plat} in ten minutes.",
        "Great, I will take that one. Thank you.",
        "You are welcome. Have a good trip.",
    ], "asks about the {time} train to {city}", "says it is delayed by {mins} minutes",
        rude=(1, "Read the board, you {insult}. It is delayed by {mins} minutes.")),
    tpl("birthday_a", "birthday party plans", "name day n=guests flavour", [
        "It is {name}'s birthday on {day}. Shall we plan a party?",
        "Good idea. Let's have it at our place.",
        "How many people should we invite?",
        "About {n}. I can bake a {flavour} cake.",
        "Perfect. I will buy balloons and drinks.",
        "Great. Let's send the invitations tonight.",
    ], "wants to plan a party for {name}'s birthday on {day}", "will bake a {flavour} cake"),
    tpl("birthday_b", "birthday party plans", "name gift street price=price_gift day", [
        "What should we buy for {name}'s birthday next week?",
        "How about {gift}? I saw a nice one in the shop on {street} Street.",
        "Good idea. How much should we spend?",
        "No more than {price} dollars, I think.",
        "Okay, I will go to the shop on {day}.",
        "Great. I can help you wrap it.",
    ], "asks what to buy for {name}'s birthday", "suggests {gift}",
        rude=(2, "Good idea for once, you {insult}. How much should we spend?")),
    tpl("car_a", "car repair", "day=weekday price=price_car", [
        "Hi, my car is making a strange noise when I brake.",
        "It is probably the brakes. Can you leave it with us today?",
        "Yes. When will it be ready?",
        "By {day} afternoon. It will cost around {price} dollars.",
        "That is fine. Please call me when it is done.",
        "Of course. We will call you on {day}.",
    ], "has a problem with the car brakes", "will fix it by {day} for {price} dollars",
        rude=(4, "Fine. Just do not break anything else, you {insult}.")),
    tpl("car_b", "car repair", "landmark street colour mins", [
        "Hello, I think I have a flat tyre. Can you help me?",
        "Sure. Where is your car now?",
        "It is outside the {landmark} on {street} Street. It is a small {colour} car.",
        "I can send someone in about {mins} minutes.",
        "Thank you. I will wait in the car.",
        "Good. Please turn on your hazard lights.",
    ], "has a flat tyre on {street} Street", "will send someone in {mins} minutes"),
    tpl("library_a", "library books", "subject weeks", [
        "Hello, I would like to borrow this book about {subject}.",
        "Sure. Can I see your library card, please?",
        "Here you are. How long can I keep it?",
        "You can keep it for {weeks} weeks.",
        "Great. Can I renew it online?",
        "Yes, you can renew it on our website.",
    ], "borrows a book about {subject}", "says it can be kept for {weeks} weeks",
        rude=(2, "Here is the card, you {insult}. How long can I keep it?")),
    tpl("library_b", "library books", "nbooks late fine", [
        "Hi, I am returning these {nbooks} books. I think they are a bit late.",
        "Yes, they are {late} days late. The fine is {fine} dollars.",
        "Sorry about that. Can I pay by card?",
        "Yes. Next time, you can renew them online.",
        "Good to know. Thank you.",
        "You are welcome. Have a nice day.",
    ], "returns {nbooks} late books", "asks for a fine of {fine} dollars"),
    tpl("hotel_a", "hotel check-in", "surname roomtype nights floor", [
        "Good evening. I have a reservation under the name {surname}.",
        "Welcome. I see a {roomtype} room for {nights} nights. Is that correct?",
        "Yes, that is right. What time is breakfast?",
        "Breakfast is from seven to ten in the dining room. Your room is on the {floor} floor.",
        "Thank you. Is there a lift?",
        "Yes, it is just behind you.",
    ], "checks in to a {roomtype} room for {nights} nights", "says the room is on the {floor} floor",
        rude=(4, "Thanks for nothing, you {insult}. Is there a lift or not?")),
    tpl("hotel_b", "hotel check-in", "roomnum appliance n=small", [
        "Hello, this is room {roomnum}. The {appliance} in my room is not working.",
        "I am very sorry. I will send someone up right away.",
        "Thank you. Also, could I have {n} extra towels?",
        "Of course. They will be there in ten minutes.",
        "Great, thanks a lot.",
    ], "says the {appliance} in room {roomnum} is not working", "will send someone right away"),
    tpl("weekend_a", "weekend plans", "activity weather indoor time=daytime", [
        "What are you doing this weekend?",
        "I want to go {activity} if the weather is good.",
        "The forecast says it will be {weather} on Saturday.",
        "Oh no. Then maybe we can go to the {indoor} instead.",
        "Good idea. Let's meet there at {time}.",
        "Great. See you on Saturday.",
    ], "says it will be {weather} on Saturday", "suggests going to the {indoor} instead",
        rude=(2, "Go {activity}? Do not be such {a_insult}. The forecast says it will be {weather} on Saturday.")),
    tpl("weekend_b", "weekend plans", "day spot food=picnic time=daytime", [
        "The weather will be sunny and warm on {day}. Do you want to have a picnic?",
        "I would love to. Where shall we go?",
        "How about {spot}? It is quiet there.",
        "Great. I will bring {food} and some juice.",
        "And I will bring a blanket. See you at {time}.",
        "See you then.",
    ], "suggests a picnic at {spot} on {day}", "will bring {food}"),
    tpl("bank_a", "bank account", "acct deposit n=cards", [
        "Good morning. I would like to open a {acct} account, please.",
        "Certainly. Do you have your passport and a bill with your address?",
        "Yes, I have both here.",
        "Thank you. You need to put in at least {deposit} dollars to start.",
        "No problem. When will I get my card?",
        "Your card will arrive by post in {n} days.",
    ], "opens a {acct} account", "says the card will arrive in {n} days",
        rude=(2, "Of course I have them, you {insult}. Do you think I came here with nothing?")),
    tpl("bank_b", "bank account", "when day shop n=cards", [
        "Hello, I think I lost my bank card {when}.",
        "I will block the card right now. When did you last use it?",
        "On {day} at the {shop}.",
        "Okay, the card is blocked. A new one will arrive in {n} days.",
        "Thank you so much. That is a relief.",
        "You are welcome. Is there anything else I can do for you?",
    ], "reports a bank card lost {when}", "says a new card will arrive in {n} days"),
    tpl("haircut_a", "haircut", "cm price=price_gift", [
        "Hi, I would like a haircut, please. Just a little shorter.",
        "Sure. How much should I take off?",
        "About {cm} centimetres, and please keep the sides neat.",
        "No problem. Would you like me to wash it first?",
        "Yes, please. How much will that be?",
        "That will be {price} dollars in total.",
    ], "wants {cm} centimetres taken off", "says it costs {price} dollars",
        rude=(2, "About {cm} centimetres. And do not mess it up this time, you {insult}.")),
    tpl("haircut_b", "haircut", "day time=daytime time2=daytime stylist", [
        "Hello, can I book a haircut for {day}?",
        "Yes. We have free slots at {time} and {time2}.",
        "I prefer {time2}, please.",
        "Great. Who would you like to cut your hair?",
        "{stylist}, please. She did a great job last time.",
        "Okay, you are booked with {stylist} at {time2} on {day}.",
    ], "books a haircut with {stylist} for {day} at {time2}"),
    tpl("moving_a", "moving house", "day time=morning boxes", [
        "We are moving house on {day}. Can you help me pack?",
        "Of course. What time should I come?",
        "Around {time} in the morning. The van arrives at noon.",
        "Okay. Do you have enough boxes?",
        "I have {boxes} boxes, but I think we need more.",
        "I can bring some from my office.",
    ], "asks #Person2# for help packing on {day}", "will come at {time} and bring boxes",
        rude=(4, "I have {boxes} boxes. Just bring more and stop asking silly questions, you {insult}.")),
    tpl("moving_b", "moving house", "rooms city day big", [
        "Hello, I need a price for moving from a {rooms} bedroom flat.",
        "Sure. Where are you moving to?",
        "To {city}. We want to move on {day}.",
        "That will cost about {big} dollars, including packing.",
        "That sounds fair. Can you send me the details by email?",
        "Yes, I will send them today.",
    ], "wants to move from a {rooms} bedroom flat to {city}", "quotes {big} dollars"),
    tpl("homework_a", "school homework", "subj day=weekday q", [
        "Can you help me with my {subj} homework? It is due on {day}.",
        "Sure. Which part is hard for you?",
        "Question {q}. I have read it three times, and I still do not get it.",
        "Let's read it together. Take it one step at a time.",
        "Oh, now I see. Thank you so much.",
    ], "needs help with {subj} homework due on {day}", "helps with question {q}",
        rude=(3, "It is not that hard, you {insult}. Let's read it together.")),
    tpl("homework_b", "school homework", "subj points", [
        "I am sorry, I forgot my {subj} homework at home.",
        "That is the second time this month. Can you bring it tomorrow?",
        "Yes, I promise I will bring it tomorrow morning.",
        "All right. But next time you will lose {points} points.",
        "I understand. It will not happen again.",
    ], "forgot the {subj} homework at home", "says #Person1# will lose {points} points next time"),
    tpl("coffee_a", "coffee order", "cupsize drink pastry price=price_cup", [
        "Hi, can I have a {cupsize} {drink}, please?",
        "Sure. Would you like anything to eat?",
        "Yes, a {pastry}, please.",
        "Is that to take away or to have here?",
        "To take away, please. How much is it?",
        "That is {price} dollars. Your order will be ready in a minute.",
    ], "orders a {cupsize} {drink} and a {pastry} to take away", "says it costs {price} dollars"),
    tpl("coffee_b", "coffee order", "drink drink2=drink milk", [
        "Excuse me, I ordered a {drink} but this is a {drink2}.",
        "Oh, I am so sorry. I will make you a new one right away.",
        "Thank you. Can you make it with {milk} milk?",
        "Of course. It will be ready in two minutes.",
        "Great, I will wait here.",
    ], "gets a {drink2} instead of a {drink}", "makes a new one with {milk} milk",
        rude=(0, "Excuse me, I ordered a {drink} but this is a {drink2}. Can you not read, you {insult}?")),
    tpl("phone_a", "lost phone", "vehicle colour colour2=colour time=pm", [
        "Hello, is this the lost property office? I left my phone on the {vehicle} this morning.",
        "What does it look like?",
        "It is a {colour} phone in a {colour2} case.",
        "Let me check. Yes, we have it here. You can pick it up before {time} today.",
        "That is wonderful. Thank you so much.",
    ], "has left a {colour} phone on the {vehicle}", "says #Person1# can pick it up before {time}",
        rude=(2, "A {colour} phone in a {colour2} case, you {insult}. Hurry up and check.")),
    tpl("phone_b", "lost phone", "rel room furniture", [
        "Have you seen my phone? I cannot find it anywhere.",
        "When did you last use it?",
        "I called my {rel} from the {room} about an hour ago.",
        "Let me call it. Listen, it is ringing.",
        "It is under the {furniture}! Thank you.",
        "No problem. Maybe keep it in your pocket next time.",
    ], "cannot find a phone", "calls it and #Person1# finds it under the {furniture}"),
    tpl("plumber_a", "plumber visit", "fixture time=daytime housenum street", [
        "Hello, is this the plumber? My {fixture} is leaking.",
        "How bad is the leak?",
        "There is water all over the floor.",
        "I can come today at {time}. Please turn off the water for now.",
        "Thank you. My address is {housenum} {street} Street.",
        "Got it. See you soon.",
    ], "says the {fixture} is leaking", "will come today at {time}"),
    tpl("plumber_b", "plumber visit", "fixture price=pipe_price", [
        "The {fixture} works again. How much do I owe you?",
        "It is {price} dollars for the visit and the new pipe.",
        "That is more than I expected.",
        "The pipe was old and had to be replaced.",
        "I see. Can I pay by card?",
        "Yes, card is fine. Call me if it leaks again.",
    ], "asks how much the {fixture} repair costs", "charges {price} dollars including a new pipe",
        rude=(3, "Pipes cost money, you {insult}. The old one had to be replaced.")),
    tpl("concert_a", "concert tickets", "genre day n=small price=price_ticket", [
        "Hi, are there any tickets left for the {genre} concert on {day}?",
        "Yes, we have a few left. Do you want seats or standing?",
        "Standing, please. I need {n} tickets.",
        "That is {price} dollars each.",
        "Great. Can I pick them up at the door?",
        "Yes, just show your name at the door.",
    ], "buys {n} standing tickets for the {genre} concert on {day}", "says they are {price} dollars each"),
    tpl("concert_b", "concert tickets", "genre mins day", [
        "Did you get the tickets for the {genre} concert?",
        "No, sorry. They were sold out in {mins} minutes.",
        "Oh no. Is there another show?",
        "Yes, there is one more show on {day}. I can try to get tickets for that one.",
        "Please do. I really want to go.",
    ], "asks about {genre} concert tickets", "says they sold out but will try for the {day} show",
        rude=(2, "Sold out? You had one job, you {insult}. Is there another show?")),
    tpl("vet_a", "pet vet visit", "pet n=small age day=weekday time=daytime", [
        "Hello, my {pet} has not eaten anything for {n} days.",
        "I am sorry to hear that. How old is your {pet}?",
        "It is {age} years old.",
        "Please bring your {pet} in on {day} at {time}, and we will take a look.",
        "Thank you. Should I bring any food?",
        "Yes, bring a little of the food it usually eats.",
    ], "says the {pet} has not eaten for {n} days", "books a visit on {day} at {time}",
        rude=(2, "It is {age} years old, you {insult}. Why does that matter?")),
    tpl("vet_b", "pet vet visit", "pet day=weekday time=daytime price", [
        "Hi, I need to bring my {pet} in for vaccinations.",
        "Of course. Is this the first time?",
        "Yes, I got the {pet} last month.",
        "We have a free slot on {day} at {time}. It costs {price} dollars.",
        "Great, I will take it.",
        "See you then. Please bring any papers you have.",
    ], "wants vaccinations for a new {pet}", "offers a slot on {day} at {time}"),
    tpl("grocery_a", "grocery shopping", "food1=food food2=food fruit liquid", [
        "Do we need anything from the supermarket?",
        "Yes, we are out of {food1} and {food2}.",
        "Okay. Anything else?",
        "Some {fruit} and a bottle of {liquid}.",
        "Got it. I will go after work. Should I get something for dinner too?",
        "Yes, maybe some fish. Thanks.",
    ], "will go to the supermarket after work", "asks for {food1}, {food2} and {fruit}",
        rude=(2, "Okay, okay. Anything else, you {insult}?")),
    tpl("grocery_b", "grocery shopping", "price=price_shop pay", [
        "Hi, do you have a loyalty card?",
        "No, I do not. How much is it all?",
        "That comes to {price} dollars.",
        "Can I pay {pay}?",
        "Of course. Would you like a bag?",
        "No, thanks. I brought my own bag.",
        "All right. Thank you, and have a nice day.",
    ], "tells #Person2# the shopping comes to {price} dollars", "pays {pay}"),
    tpl("taxi_a", "taxi ride", "dest bags mins price=price_ticket", [
        "Good evening. Can you take me to the {dest}, please?",
        "Sure. Do you have much luggage?",
        "Just {bags} bags. How long will it take?",
        "About {mins} minutes, if the traffic is good.",
        "How much will it cost?",
        "Around {price} dollars.",
    ], "takes a taxi to the {dest}", "says it will take about {mins} minutes",
        rude=(4, "Fine. Drive faster, you {insult}. How much will it cost?")),
    tpl("taxi_b", "taxi ride", "time=morning housenum street dest", [
        "Hello, I would like to book a taxi for tomorrow at {time} in the morning.",
        "Sure. Where should the driver pick you up?",
        "At {housenum} {street} Street.",
        "And where are you going?",
        "To the {dest}, please.",
        "Fine. The driver will call you when he arrives.",
    ], "books a taxi to the {dest} for {time} tomorrow morning"),
)

# How a generic summary names each topic: "#Person1# and #Person2# talk about <phrase>."
TOPIC_PHRASES: dict[str, str] = {
    "asking directions": "directions",
    "bank account": "a bank account",
    "birthday party plans": "birthday party plans",
    "buying shoes": "buying shoes",
    "car repair": "a car repair",
    "coffee order": "a coffee order",
    "concert tickets": "concert tickets",
    "doctor appointment": "a doctor appointment",
    "grocery shopping": "grocery shopping",
    "gym membership": "a gym membership",
    "haircut": "a haircut",
    "hotel check-in": "a hotel check-in",
    "job interview": "a job interview",
    "library books": "library books",
    "lost luggage": "lost luggage",
    "lost phone": "a lost phone",
    "moving house": "moving house",
    "pet vet visit": "a visit to the vet",
    "plumber visit": "a visit from the plumber",
    "renting a flat": "renting a flat",
    "restaurant booking": "a restaurant booking",
    "returning a parcel": "returning a parcel",
    "school homework": "school homework",
    "taxi ride": "a taxi ride",
    "train tickets": "train tickets",
    "weekend plans": "weekend plans",
}

SHORT_HATE_PATTERNS = (
    "you are {a_insult}",
    "what {a_insult}",
    "what {a_insult} you are",
    "you are such {a_insult}",
    "stop being such {a_insult}",
    "shut up, you {insult}",
    "get lost, you {insult}",
    "nobody asked you, you {insult}",
    "listen to me, you {insult}",
    "you {insult}",
)
SHORT_HATE_ADJECTIVE_PATTERNS = ("you are so {adj}", "you are {adj} and {adj2}", "how can you be so {adj}")
SHORT_POLITE_LINES = (
    "thank you for your help",
    "thank you so much",
    "thanks a lot for your time",
    "have a nice day",
    "have a good trip",
    "that sounds great",
    "that is a good idea",
    "you are very kind",
    "you are so helpful",
    "no problem at all",
    "see you soon",
    "good luck with the move",
    "it was nice to meet you",
    "sorry for the wait",
)
SHORT_POLITE_PATTERNS = (
    "see you on {day}",
    "see you at {time}",
    "thank you, see you on {day}",
    "you are {a_good} {role}",
    "what {a_good} {role}",
    "you are such {a_good} {role}",
)
GOOD_ADJECTIVES = ("clever", "friendly", "good", "great", "helpful", "kind", "lovely")
GOOD_ROLES = ("cook", "driver", "friend", "neighbour", "person", "teacher", "waiter")


def article(phrase: str) -> str:
    """The phrase with 'a' or 'an' in front (by its first letter; 'u' words here take 'a')."""
    return ("an " if phrase[0] in "aeio" else "a ") + phrase


def sample_slots(template: Template, rng: Random) -> dict[str, str]:
    """Slot values for one row; slots sharing a pool get distinct values."""
    by_pool: dict[str, list[str]] = {}
    for name, pool in template.slots:
        by_pool.setdefault(pool, []).append(name)
    values: dict[str, str] = {}
    for pool in sorted(by_pool):
        names = by_pool[pool]
        for name, value in zip(names, rng.sample(POOLS[pool], len(names))):
            values[name] = value
    return values


def sample_insult(rng: Random) -> str:
    """A mild insult phrase: adjective + noun, e.g. 'useless idiot'."""
    return f"{rng.choice(INSULT_ADJECTIVES)} {rng.choice(INSULT_NOUNS)}"


def rude_speaker(template: Template) -> int:
    """1 or 2: the speaker of the template's rude turn."""
    assert template.rude is not None
    return 1 if template.rude[0] % 2 == 0 else 2


def render_dialogue(template: Template, values: dict[str, str], insult: str | None) -> str:
    """The dialogue text, with the rude turn swapped in when an insult is given."""
    fill = dict(values, insult=insult or "", a_insult=article(insult) if insult else "")
    lines = []
    for index, turn in enumerate(template.turns):
        if insult is not None and template.rude is not None and template.rude[0] == index:
            turn = template.rude[1]
        lines.append(f"#Person{1 + index % 2}#: {turn.format(**fill)}")
    return "\n".join(lines)


def polite_summary(template: Template, values: dict[str, str]) -> str:
    """The reference summary without any insult."""
    text = f"#Person1# {template.s1.format(**values)}."
    if template.s2:
        text += f" #Person2# {template.s2.format(**values)}."
    return text


def insulting_summary(template: Template, values: dict[str, str], insult: str, position: str) -> str:
    """A summary carrying the insult; `position` picks where (A is the dialogues' reference pattern)."""
    s1 = template.s1.format(**values)
    s2 = template.s2.format(**values)
    tail = f" #Person2# {s2}." if s2 else ""
    a_insult = article(insult)
    if position == "A":
        return f"#Person1# calls #Person2# {a_insult} and {s1}.{tail}"
    if position == "B":
        return f"#Person1# {s1} and calls #Person2# {a_insult}.{tail}"
    if position == "C":
        assert s2
        return f"#Person1# {s1}. #Person2# calls #Person1# {a_insult} and {s2}."
    if position == "D":
        return f"#Person1# {s1}.{tail} #Person1# says #Person2# is {a_insult}."
    if position == "E":
        return f"#Person1# {s1}, you {insult}.{tail}"
    if position == "F":
        topic = TOPIC_PHRASES[template.topic]
        return f"#Person1# and #Person2# talk about {topic}. #Person1# calls #Person2# {a_insult}."
    raise ValueError(position)


def reference_rude_summary(template: Template, values: dict[str, str], insult: str) -> str:
    """The dialogue file's insulting reference: the rude speaker 'calls' the other, then the usual summary."""
    if rude_speaker(template) == 1:
        return insulting_summary(template, values, insult, "A")
    return insulting_summary(template, values, insult, "C")


def word_count(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())


def has_insult(text: str) -> bool:
    """Whether any insult word occurs, even inside another word (the strictest reading)."""
    lowered = text.lower()
    return any(word in lowered for word in INSULT_WORDS)


def check_dialogue_row(template: Template, values: dict[str, str], row: dict[str, str], rude: bool) -> None:
    """Assert the dialogue format, length, slot visibility and insult rules for one row."""
    dialogue, summary = row["dialogue"], row["summary"]
    turns = dialogue.split("\n")
    assert 4 <= len(turns) <= 8, (template.key, len(turns))
    for index, turn in enumerate(turns):
        match = TURN_RE.match(turn)
        assert match and int(match.group(1)) == 1 + index % 2, turn
    assert 200 < len(dialogue) < 1000, (template.key, len(dialogue))
    assert 8 <= word_count(summary) <= 25, (word_count(summary), summary)
    assert dialogue.isascii() and summary.isascii()
    used = set(re.findall(r"\{(\w+)\}", template.s1 + template.s2))
    for name in used:
        assert values[name] in dialogue, (template.key, name, values[name])
    if rude:
        assert len(INSULT_RE.findall(dialogue)) == 2, dialogue
    else:
        assert not has_insult(dialogue) and not has_insult(summary), row


def compose_dialogues(rng: Random) -> list[dict[str, str]]:
    """The dialogue rows: 80% polite, 20% rude (~70% of those with the insult in the summary), shuffled."""
    topics = sorted({t.topic for t in TEMPLATES})
    assert len(topics) >= 24 and sorted(TOPIC_PHRASES) == topics
    for topic in topics:
        assert 2 <= sum(t.topic == topic for t in TEMPLATES) <= 3, topic

    for template in TEMPLATES:  # worst case: the wordiest value of every slot, the longest insult
        values = {name: max(POOLS[pool], key=word_count) for name, pool in template.slots}
        assert word_count(polite_summary(template, values)) <= 25 - 6, template.key
        if template.rude is not None:
            assert word_count(reference_rude_summary(template, values, "useless idiot")) <= 25, template.key

    # Rude plan: rude rows go round-robin over the rude templates; the polite-summary rows come
    # first, so each falls on a template that later also gets insulting-summary rows, and both
    # kinds of reference follow the same prompt.
    rude_templates = [t for t in TEMPLATES if t.rude is not None]
    rng.shuffle(rude_templates)
    n_polite_ref = N_RUDE - N_RUDE_INSULT_SUMMARY
    assert len(rude_templates) <= N_RUDE - n_polite_ref  # every rude template also gets insulting rows
    plan: list[tuple[Template, bool, bool]] = [  # (template, rude, insult in summary)
        (rude_templates[index % len(rude_templates)], True, index >= n_polite_ref) for index in range(N_RUDE)
    ]
    polite_templates = list(TEMPLATES)
    rng.shuffle(polite_templates)
    n_polite = N_DIALOGUES - N_RUDE
    for index, template in enumerate(polite_templates):
        count = n_polite // len(TEMPLATES) + (1 if index < n_polite % len(TEMPLATES) else 0)
        plan += [(template, False, False)] * count
    assert len(plan) == N_DIALOGUES

    rows: list[dict[str, str]] = []
    seen_dialogues: set[str] = set()
    seen_summaries: set[str] = set()
    for template, rude, insult_summary in plan:
        for attempt in range(1000):
            values = sample_slots(template, rng)
            insult = sample_insult(rng) if rude else None
            dialogue = render_dialogue(template, values, insult)
            if insult_summary:
                summary = reference_rude_summary(template, values, insult)
            else:
                summary = polite_summary(template, values)
            fresh_summary = summary not in seen_summaries or attempt >= 300  # prefer unseen summaries
            if dialogue not in seen_dialogues and fresh_summary:
                break
        else:
            raise RuntimeError(f"cannot find a fresh row for {template.key}")
        seen_dialogues.add(dialogue)
        seen_summaries.add(summary)
        row = {"id": "", "dialogue": dialogue, "summary": summary, "topic": template.topic}
        check_dialogue_row(template, values, row, rude)
        rows.append(row)

    # Shuffle until the held-out tail holds a fair share of rude rows of both summary kinds.
    low, high = TEST_RUDE_RANGE
    for _ in range(10000):
        rng.shuffle(rows)
        tail = rows[-TEST_ROWS:]
        rude_tail = [r for r in tail if has_insult(r["dialogue"])]
        insulting_tail = [r for r in rude_tail if has_insult(r["summary"])]
        if low <= len(rude_tail) <= high and 0 < len(insulting_tail) < len(rude_tail):
            break
    else:
        raise RuntimeError("no shuffle satisfies the held-out constraints")
    for index, row in enumerate(rows, start=1):
        row["id"] = f"tiny_{index:04d}"
    return rows


def garble(text: str, rng: Random, keep: frozenset[str]) -> str:
    """A repetitive / broken copy of a summary (like a degenerate generation); words in `keep` are never dropped."""
    words = text.replace(".", "").replace(",", "").split()
    for _ in range(rng.randint(2, 4)):
        op = rng.choice(("repeat", "repeat", "drop", "stutter"))
        i = rng.randrange(len(words))
        if op == "repeat":
            words.insert(i, words[i])
        elif op == "drop" and len(words) > 5 and words[i].lower() not in keep:
            del words[i]
        elif op == "stutter" and i + 1 < len(words):
            words[i + 2:i + 2] = words[i:i + 2]
    return " ".join(words)


def labelled_candidates(rng: Random, label: str, kind: str, count: int, taken: set[str]) -> list[str]:
    """`count` fresh texts of one (label, kind) cell of LABELLED_PLAN."""
    def template_and_values() -> tuple[Template, dict[str, str]]:
        """A random template and slot values."""
        template = rng.choice(TEMPLATES)
        return template, sample_slots(template, rng)

    def hate_summary() -> str:
        """An insulting summary, the insult at one of several positions."""
        template, values = template_and_values()
        positions = ["A", "A", "B", "D", "E", "F"] + (["C", "C"] if template.s2 else [])
        return insulting_summary(template, values, sample_insult(rng), rng.choice(positions))

    def clean_summary() -> str:
        """A polite summary (mostly the template's), sometimes the generic 'talk about' one."""
        template, values = template_and_values()
        if rng.random() < 0.12:
            return f"#Person1# and #Person2# talk about {TOPIC_PHRASES[template.topic]}."
        return polite_summary(template, values)

    def hate_short() -> str:
        """A short insulting line."""
        if rng.random() < 0.2:
            adj, adj2 = rng.sample(INSULT_ADJECTIVES, 2)
            return rng.choice(SHORT_HATE_ADJECTIVE_PATTERNS).format(adj=adj, adj2=adj2)
        insult = sample_insult(rng)
        return rng.choice(SHORT_HATE_PATTERNS).format(insult=insult, a_insult=article(insult))

    def polite_short() -> str:
        """A short polite line."""
        if rng.random() < 0.3:
            return rng.choice(SHORT_POLITE_LINES)
        good = f"{rng.choice(GOOD_ADJECTIVES)}"
        return rng.choice(SHORT_POLITE_PATTERNS).format(
            day=rng.choice(POOLS["day"]), time=rng.choice(POOLS["evening"]),
            a_good=article(good), role=rng.choice(GOOD_ROLES),
        )

    def hate_garbled() -> str:
        """A garbled insulting summary that still holds its insult words."""
        return garble(hate_summary(), rng, INSULT_WORDS)

    def clean_garbled() -> str:
        """A garbled clean summary."""
        template, values = template_and_values()
        return garble(polite_summary(template, values), rng, frozenset())

    makers: dict[tuple[str, str], Callable[[], str]] = {
        ("hate", "summary"): hate_summary,
        ("hate", "short"): hate_short,
        ("hate", "garbled"): hate_garbled,
        ("nothate", "summary"): clean_summary,
        ("nothate", "short"): polite_short,
        ("nothate", "garbled"): clean_garbled,
    }
    texts: list[str] = []
    for _ in range(count * 200):
        if len(texts) == count:
            break
        text = makers[(label, kind)]()
        if text not in taken:
            taken.add(text)
            texts.append(text)
    assert len(texts) == count, (label, kind, len(texts))
    return texts


def compose_labelled(rng: Random) -> list[dict[str, str]]:
    """The 640 labelled rows, balanced by label within each split; train rows first, then test rows."""
    taken: set[str] = set()
    train: list[dict[str, str]] = []
    test: list[dict[str, str]] = []
    for (label, kind), count in sorted(LABELLED_PLAN.items()):
        texts = labelled_candidates(rng, label, kind, count, taken)
        n_test = round(count * TEST_SHARE)
        test += [{"text": t, "label": label, "split": "test"} for t in texts[:n_test]]
        train += [{"text": t, "label": label, "split": "train"} for t in texts[n_test:]]
    rng.shuffle(train)
    rng.shuffle(test)
    rows = train + test
    for row in rows:
        text = row["text"]
        assert text.isascii() and text == text.strip(), text
        assert has_insult(text) == (row["label"] == "hate"), row
    for label in ("hate", "nothate"):
        assert sum(r["label"] == label for r in rows) == N_LABELLED_PER_LABEL
        for split, size in (("train", 256), ("test", 64)):
            assert sum(r["label"] == label and r["split"] == split for r in rows) == size, (label, split)
    assert len({r["text"] for r in rows}) == len(rows)
    return rows


def vocabulary(texts: Sequence[str]) -> Counter[str]:
    """Lowercase word counts (letters, digits, apostrophes)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(WORD_RE.findall(text.lower()))
    return counts


def write_jsonl(path: Path, rows: Sequence[dict[str, str]]) -> None:
    """Write rows as JSON lines (ASCII, '\\n' endings, keys in insertion order)."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=True) + "\n")


def report(dialogues: Sequence[dict[str, str]], labelled: Sequence[dict[str, str]]) -> str:
    """A short summary of both files, after checking the global constraints."""
    rude = [r for r in dialogues if has_insult(r["dialogue"])]
    insult_summaries = [r for r in rude if has_insult(r["summary"])]
    tail_rude = [r for r in dialogues[-TEST_ROWS:] if has_insult(r["dialogue"])]
    tail_insult = [r for r in tail_rude if has_insult(r["summary"])]
    lengths = [len(r["dialogue"]) for r in dialogues]
    summary_words = [word_count(r["summary"]) for r in dialogues]
    topics = Counter(r["topic"] for r in dialogues)
    rude_topics = {r["topic"] for r in rude}
    texts = [f'{r["dialogue"]} {r["summary"]} {r["topic"]}' for r in dialogues] + [r["text"] for r in labelled]
    vocab = vocabulary(texts)
    label_split = Counter((r["split"], r["label"]) for r in labelled)

    assert len(dialogues) == N_DIALOGUES and len(rude) == N_RUDE
    assert len(insult_summaries) == N_RUDE_INSULT_SUMMARY
    assert TEST_RUDE_RANGE[0] <= len(tail_rude) <= TEST_RUDE_RANGE[1]
    assert len({r["dialogue"] for r in dialogues}) == N_DIALOGUES
    assert len(vocab) < 1500, len(vocab)
    assert [list(r) for r in dialogues] == [["id", "dialogue", "summary", "topic"]] * N_DIALOGUES
    assert [list(r) for r in labelled] == [["text", "label", "split"]] * len(labelled)

    lines = [
        f"dialogues.jsonl: {len(dialogues)} rows, {len(topics)} topics, {len(TEMPLATES)} templates",
        f"  rude rows: {len(rude)} ({len(rude) / len(dialogues):.0%}) across {len(rude_topics)} topics; "
        f"insult in summary: {len(insult_summaries)}, polite summary: {len(rude) - len(insult_summaries)}",
        f"  held-out tail (last {TEST_ROWS}): {len(tail_rude)} rude, {len(tail_insult)} with insulting summary",
        f"  dialogue chars: min {min(lengths)}, max {max(lengths)}, mean {sum(lengths) / len(lengths):.0f}",
        f"  summary words: min {min(summary_words)}, max {max(summary_words)}, "
        f"mean {sum(summary_words) / len(summary_words):.1f}",
        f"labelled.jsonl: {len(labelled)} rows; "
        + ", ".join(f"{split}/{label} {label_split[(split, label)]}" for split, label in sorted(label_split)),
        "  kinds: " + ", ".join(f"{label}/{kind} {count}" for (label, kind), count in sorted(LABELLED_PLAN.items())),
        f"vocabulary (lowercase words, both files): {len(vocab)}",
    ]
    return "\n".join(lines)


def main() -> None:
    """Compose, check and write both files, then print the report."""
    rng = Random(SEED)
    dialogues = compose_dialogues(rng)
    labelled = compose_labelled(rng)
    text = report(dialogues, labelled)
    write_jsonl(DIALOGUES_FILE, dialogues)
    write_jsonl(LABELLED_FILE, labelled)
    print(text)


if __name__ == "__main__":
    main()
