"""Published class names of the everyday-action skeleton data sets, in label order (0-based).

The names are the datasets' own (from their papers and readme files), written in snake_case so
that they read the same as Penn Action's and can serve as file names in reports. They live in
code, not in the data folders, because the raw releases store only numeric action ids.
"""

from __future__ import annotations

# Northwestern-UCLA Multiview Action3D: file action ids a01..a12 (a07 and a10 are not in the
# release), in that order.
NW_UCLA_ACTION_IDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
NW_UCLA: tuple[str, ...] = (
    "pick_up_one_hand", "pick_up_two_hands", "drop_trash", "walk_around", "sit_down", "stand_up",
    "donning", "doffing", "throw", "carry",
)

# UTD-MHAD: actions a1..a27.
UTD_MHAD: tuple[str, ...] = (
    "swipe_left", "swipe_right", "wave", "clap", "throw", "arm_cross", "basketball_shoot",
    "draw_x", "draw_circle_clockwise", "draw_circle_counter_clockwise", "draw_triangle", "bowling",
    "boxing", "baseball_swing", "tennis_forehand_swing", "arm_curl", "tennis_serve", "push",
    "knock", "catch", "pick_up_and_throw", "jog_in_place", "walk_in_place", "sit_to_stand",
    "stand_to_sit", "lunge", "squat",
)

# UTKinect-Action3D: the camelCase names used in actionLabel.txt, and ours in the same order.
UTKINECT_SOURCE: tuple[str, ...] = (
    "walk", "sitDown", "standUp", "pickUp", "carry", "throw", "push", "pull", "waveHands",
    "clapHands",
)
UTKINECT: tuple[str, ...] = (
    "walk", "sit_down", "stand_up", "pick_up", "carry", "throw", "push", "pull", "wave_hands",
    "clap_hands",
)

# SBU Kinect Interaction: class folders 01..08.
SBU: tuple[str, ...] = (
    "approaching", "departing", "kicking", "pushing", "shaking_hands", "hugging", "exchanging",
    "punching",
)

# NTU RGB+D 120: actions A001..A120 (the first 60 are NTU RGB+D 60).
NTU_RGBD_120: tuple[str, ...] = (
    "drink_water", "eat_meal_snack", "brushing_teeth", "brushing_hair", "drop", "pickup", "throw",
    "sitting_down", "standing_up_from_sitting_position", "clapping", "reading", "writing",
    "tear_up_paper", "wear_jacket", "take_off_jacket", "wear_a_shoe", "take_off_a_shoe",
    "wear_on_glasses", "take_off_glasses", "put_on_a_hat_cap", "take_off_a_hat_cap", "cheer_up",
    "hand_waving", "kicking_something", "reach_into_pocket", "hopping_one_foot_jumping", "jump_up",
    "make_a_phone_call_answer_phone", "playing_with_phone_tablet", "typing_on_a_keyboard",
    "pointing_to_something_with_finger", "taking_a_selfie", "check_time_from_watch",
    "rub_two_hands_together", "nod_head_bow", "shake_head", "wipe_face", "salute",
    "put_the_palms_together", "cross_hands_in_front_say_stop", "sneeze_cough", "staggering",
    "falling", "touch_head_headache", "touch_chest_stomachache_heart_pain", "touch_back_backache",
    "touch_neck_neckache", "nausea_or_vomiting_condition",
    "use_a_fan_with_hand_or_paper_feeling_warm", "punching_slapping_other_person",
    "kicking_other_person", "pushing_other_person", "pat_on_back_of_other_person",
    "point_finger_at_the_other_person", "hugging_other_person", "giving_something_to_other_person",
    "touch_other_persons_pocket", "handshaking", "walking_towards_each_other",
    "walking_apart_from_each_other", "put_on_headphone", "take_off_headphone",
    "shoot_at_the_basket", "bounce_ball", "tennis_bat_swing", "juggling_table_tennis_balls",
    "hush_quite", "flick_hair", "thumb_up", "thumb_down", "make_ok_sign", "make_victory_sign",
    "staple_book", "counting_money", "cutting_nails", "cutting_paper_using_scissors",
    "snapping_fingers", "open_bottle", "sniff_smell", "squat_down", "toss_a_coin", "fold_paper",
    "ball_up_paper", "play_magic_cube", "apply_cream_on_face", "apply_cream_on_hand_back",
    "put_on_bag", "take_off_bag", "put_something_into_a_bag", "take_something_out_of_a_bag",
    "open_a_box", "move_heavy_objects", "shake_fist", "throw_up_cap_hat", "hands_up_both_hands",
    "cross_arms", "arm_circles", "arm_swings", "running_on_the_spot", "butt_kicks_kick_backward",
    "cross_toe_touch", "side_kick", "yawn", "stretch_oneself", "blow_nose",
    "hit_other_person_with_something", "wield_knife_towards_other_person",
    "knock_over_other_person_hit_with_body", "grab_other_persons_stuff",
    "shoot_at_other_person_with_a_gun", "step_on_foot", "high_five", "cheers_and_drink",
    "carry_something_with_other_person", "take_a_photo_of_other_person", "follow_other_person",
    "whisper_in_other_persons_ear", "exchange_things_with_other_person",
    "support_somebody_with_hand", "finger_guessing_game_playing_rock_paper_scissors",
)
